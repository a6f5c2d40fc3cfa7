()=>{C.variant=(a,r)=>{a&&null!=r&&R("variant",a,{variant:b["exp:"+a]=""+r})},C.identify=a=>{/^[\w.:-]{1,64}$/.test(a)&&(b.uid=a)}}
