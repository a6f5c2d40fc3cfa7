()=>{let t,_,a,c=0;p("click",e=>{let i=Date.now();i-c<1e3&&Math.hypot(t-e.clientX,_-e.clientY)<30?a++:(c=i,t=e.clientX,_=e.clientY,a=1),3==a&&R("rage_click",void 0,s(h(e)))})}
